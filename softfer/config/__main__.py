"""``python -m softfer.config > docs/CONFIG.md``: print the configuration reference."""

from softfer.config.reference import reference_markdown

print(reference_markdown(), end="")
