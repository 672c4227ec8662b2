"""Claims and verdicts: the catalogue (``catalogue``, torch- and pandas-free so the workflow can check
it while parsing), the decision rules (``rules``), the multiplicity-corrected verdicts
(``verdicts``) and the scorecard files (``scorecard``)."""
