"""Query planning: strategies that rewrite, split, iterate over and check a question's
retrieval and answer, and the router that picks one per question."""
