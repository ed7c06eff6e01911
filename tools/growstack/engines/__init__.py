"""Stage 5, engines past one machine: KCIDB documents, tuxmake builds, TuxSuite plans."""
