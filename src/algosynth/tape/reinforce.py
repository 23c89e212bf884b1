"""REINFORCE for the head actions, with a learned baseline (the RL-NTM alternative to Q-learning).

The surrogate ``-(G_t - b_t) * log pi(a_t | h_t)`` has, in expectation, the gradient of minus the
expected total reward; ``b_t`` (a head of the controller, regressed on ``G_t``) lowers its
variance without biasing it. gradcheck.py checks that claim exactly on a tiny action space.
"""

from __future__ import annotations

import torch

from algosynth.tape.qlearning import symbol_loss
from algosynth.tape.rollout import Trajectory


def rewards_to_go(rewards: torch.Tensor) -> torch.Tensor:
    """G_t = r_t + r_{t+1} + ... (undiscounted), over ``[T, B]``."""
    return rewards.flip(0).cumsum(0).flip(0)


def policy_surrogate(trajectory: Trajectory, use_baseline: bool = True) -> torch.Tensor:
    """Minus the REINFORCE estimate of the expected reward, averaged over the batch's episodes."""
    returns = rewards_to_go(trajectory.rewards)
    advantage = returns - trajectory.baseline.detach() if use_baseline else returns
    log_pi = torch.log_softmax(trajectory.scores, -1).gather(-1, trajectory.actions[..., None]).squeeze(-1)
    return -(advantage * log_pi * trajectory.alive.float()).sum() / trajectory.alive.shape[1]


def reinforce_loss(trajectory: Trajectory) -> tuple[torch.Tensor, dict[str, float]]:
    """Policy surrogate + baseline regression + symbol cross-entropy."""
    alive = trajectory.alive.float()
    policy = policy_surrogate(trajectory)
    baseline = (((trajectory.baseline - rewards_to_go(trajectory.rewards)) ** 2) * alive).sum() / alive.sum().clamp(min=1)
    symbols = symbol_loss(trajectory)
    return policy + baseline + symbols, {"policy_loss": float(policy.detach()), "baseline_loss": float(baseline.detach()), "symbol_loss": float(symbols.detach())}
