"""The adversarial suite (issue 14): see adv_harness.py for the contract it checks.

Hypothesis settings are explicit and reproducible: every property test here uses
``adv_strategies.SETTINGS`` (derandomized, no deadline, a fixed number of examples chosen for
CI time); set ``PROBSPACE_ADV_EXAMPLES`` to run more examples locally.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # adv_* helper modules
