"""Stage 4, the results: the KTAP parser, reports, comparisons, evidence, benchmark figures."""
