"""The OpenAI wire format: request and response models, the upload parser, error bodies.

The bottom layer: every other package may import it, and it imports nothing else of the project.
"""
