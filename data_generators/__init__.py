"""The data side of t2tlike: the Problem API and the built-in problems."""
