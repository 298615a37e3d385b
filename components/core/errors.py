"""Exceptions with messages that say what was expected and what was found."""


class ToxicFilterError(Exception):
    """Base class of the project's own errors."""


class DatasetError(ToxicFilterError, ValueError):
    """The input dataset cannot be used (missing file, bad encoding, schema, classes...)."""


class ResourceMissingError(ToxicFilterError, RuntimeError):
    """A local resource (NLTK data, offline weights) is not installed."""


class ModelDirError(ToxicFilterError, ValueError):
    """A model directory is missing files or was written by an incompatible version."""


class ResourceIntegrityError(ToxicFilterError, ValueError):
    """A fetched or converted resource is not the one recorded (sha256, file format, outputs)."""


class QualityCheckError(ToxicFilterError, ValueError):
    """A derived model (e.g. the int8 ONNX export) falls short of the model it replaces."""
