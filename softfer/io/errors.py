"""softfer's own error types, in a module that imports nothing, so the CLI can name them without loading
the decoders."""


class MediaError(RuntimeError):
    """A frame or image that cannot be read; the message names the file."""
