"""Provider "numpy": the reference kernels on NumPy arrays (always available on the CPU)."""
from . import export_reference

export_reference(globals())
