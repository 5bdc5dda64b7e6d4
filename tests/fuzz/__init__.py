"""Fuzzing the wire path: decode → normalize → account book (issue 9 item 3).

``frames`` generates canonical and broken frames of every message type, ``harness`` runs them
through the engine and checks the properties; the tests drive both with Hypothesis, and
``bench/fuzz.py`` drives them with a seeded generator for a million cases.
"""
