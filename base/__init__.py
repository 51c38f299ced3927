"""The base layer, below everything else: settings, the project's error base, credentials.

It imports nothing from the project; every other package may import it.
"""
