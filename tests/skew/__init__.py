"""Versions of the worker that the tests run beside the real one, to show version skew.

A producer and a consumer deployed at different times disagree on a task's
arguments. These modules are the other side of such a disagreement; only the
tests load them.
"""
