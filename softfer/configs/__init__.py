"""The experiment configs shipped with softfer: demo/, midas/ (MIDAS), dual_domain/ (dual-domain paper).

The YAML files are package data; ``softfer.config.packaged_configs()`` gives their folder and
``softfer.config.load_config("midas/dfew_tsm_midas.yaml")`` loads one by name. ``generate.py`` writes the
paper-table files (``python -m softfer.configs.generate``).
"""
