"""Stage 1, the base tree: Debian's source package, a checked tarball URL, or a git tree."""
