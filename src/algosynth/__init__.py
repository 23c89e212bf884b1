"""algosynth: neural algorithm synthesis with recurrent, weight-tied networks.

Train on small problem instances, then think for more iterations to solve larger ones.
"""

__version__ = "0.1.0"
