"""Other ways to describe a character: transcripts, profiles (experience upload), cards."""
