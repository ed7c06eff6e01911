"""Stage 6, the release: the series' hygiene and bisectability checks, and mailing with b4."""
