"""What inference needs from a trained model, below the training engine: checkpoints (atomic writes, safe
loading), the batch <-> model contract, and building a model from a checkpoint. ``softfer.predict``,
``softfer.convert`` and Grad-CAM use this floor without importing training code."""
