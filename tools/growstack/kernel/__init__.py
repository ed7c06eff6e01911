"""Stage 3, the kernel: kconfiglib configuration, builds, KUnit through kunit.py, boots."""
