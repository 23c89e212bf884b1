"""Q-learning for the head actions with the dynamic discount and Watkins Q(lambda) (Zaremba et al. 2016).

The dynamic discount: Q-hat estimates the sum of future rewards divided by the number of symbols
still to be written, so it lies in [0, 1] whatever the sequence length, and the Bellman target is

    y_t = (r_t + gamma * n_{t+1} * V_{t+1}) / n_t,    n = symbols left to write, V = the next state's value.

``gamma`` < 1 is the ordinary per-step discount: without it, dawdling (moving back and forth
before writing) is worth as much as writing now, and a greedy head can loop until time runs out.
Its price: a solved policy's return then falls with the number of symbols left to write (3-row
addition at gamma 0.95: about 0.52 with 10 left, 0.13 with 50), which the controller cannot see, so
Q-hat cannot fit its targets and the error left is as large as the gaps between the best actions
(``benchmarks/tape_action_gap.py``).

Watkins Q(lambda) mixes the bootstrapped value with the next step's own target while the policy
acted greedily, and cuts the trace at the first exploratory action:

    V_{t+1} = (1 - lambda) * max_a Q-hat(s_{t+1}, a) + lambda * (y_{t+1} if a_{t+1} was greedy else max_a Q-hat(s_{t+1}, a)).
"""

from __future__ import annotations

import torch

from algosynth.tape.env import split_action
from algosynth.tape.rollout import Trajectory


def dynamic_discount_target(reward: torch.Tensor, left: torch.Tensor, next_value: torch.Tensor, ended: torch.Tensor,
                            gamma: float = 1.0) -> torch.Tensor:
    """One step's target; ``left`` is n_t (>= 1 while alive), and a correct write makes n_{t+1} = n_t - 1."""
    future = torch.where(ended, torch.zeros_like(next_value), gamma * (left - reward) * next_value)
    return (reward + future) / left.clamp(min=1)


def watkins_targets(rewards, left, next_max, greedy, ended, lam: float, gamma: float = 1.0) -> torch.Tensor:
    """Q(lambda) targets ``[T, B]``, computed backwards; ``next_max[t]`` is max_a Q-hat(s_{t+1}, a)
    (ignored where the episode ended at t), ``greedy[t]`` whether action t was the greedy one."""
    targets = torch.zeros_like(rewards)
    following = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        if t + 1 < rewards.shape[0]:
            following = torch.where(greedy[t + 1], targets[t + 1], next_max[t])
        next_value = (1 - lam) * next_max[t] + lam * following
        targets[t] = dynamic_discount_target(rewards[t], left[t].float(), next_value, ended[t], gamma)
    return targets


def symbol_loss(trajectory: Trajectory) -> torch.Tensor:
    """Cross-entropy of the symbol softmax against the expected symbol, at every step that wrote."""
    _, write = split_action(trajectory.actions)
    counted = trajectory.alive & write & (trajectory.expected >= 0)
    if not counted.any():
        return trajectory.symbol_logits.sum() * 0
    return torch.nn.functional.cross_entropy(trajectory.symbol_logits[counted], trajectory.expected[counted])


def q_loss(trajectory: Trajectory, lam: float, gamma: float = 1.0, penalty: float = 0.0,
           target_scores: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Regression of Q-hat(s_t, a_t) on the Q(lambda) targets, plus the optional penalty that pushes
    every Q-hat back into [0, 1], plus the symbol cross-entropy. The targets bootstrap from
    ``target_scores`` (a target network's, see ``replay_scores``) when given, else from Q-hat itself."""
    q = trajectory.scores
    alive = trajectory.alive.float()
    with torch.no_grad():
        best = (q if target_scores is None else target_scores).max(-1).values
        next_max = torch.cat([best[1:], torch.zeros_like(best[:1])])
        targets = watkins_targets(trajectory.rewards, trajectory.left, next_max, trajectory.greedy, trajectory.ended, lam, gamma)
    taken = q.gather(-1, trajectory.actions[..., None]).squeeze(-1)
    count = alive.sum().clamp(min=1)
    regression = (((taken - targets) ** 2) * alive).sum() / count
    outside = (torch.relu(q - 1) ** 2 + torch.relu(-q) ** 2).sum(-1)
    bound = (outside * alive).sum() / count
    symbols = symbol_loss(trajectory)
    total = regression + symbols + penalty * bound
    return total, {"q_loss": float(regression.detach()), "symbol_loss": float(symbols.detach()), "q_outside": float(bound.detach())}
