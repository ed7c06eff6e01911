"""Stage 2, the patch series: patches/ layout, cover letters, applying with git, exporting."""
