"""Human feedback: the questionnaire, and turning judgements into the next round's data."""
