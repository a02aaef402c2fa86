"""Rendering for people: Rich tables and cards for the terminal, HTML pages.

May import rich; the core must not import this package.
"""
