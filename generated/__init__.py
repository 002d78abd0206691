"""Generated kernels of the shipped examples (written by symbp; do not edit by hand)."""
