"""Gradient checking of the REINFORCE estimator, which the RL-NTM work found critical.

On a tiny problem every action sequence can be enumerated: the expected reward
``J = sum_seq P(seq) R(seq)`` is then an ordinary differentiable function whose gradient autograd
computes exactly. The estimator's gradient, averaged over many sampled episodes, must match it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from algosynth.tape.controllers import Controller
from algosynth.tape.reinforce import policy_surrogate
from algosynth.tape.rollout import rollout
from algosynth.tape.tasks import Episodes


@dataclass
class GradientCheck:
    exact: torch.Tensor
    estimate: torch.Tensor
    expected_reward: float

    @property
    def relative_error(self) -> float:
        return float((self.estimate - self.exact).norm() / self.exact.norm().clamp(min=1e-12))

    @property
    def cosine(self) -> float:
        return float(torch.nn.functional.cosine_similarity(self.estimate, self.exact, dim=0))


def _repeat(episode: Episodes, count: int) -> Episodes:
    fields = (episode.grid, episode.start, episode.targets, episode.n_out, episode.max_steps)
    return Episodes(*(f[:1].expand(count, *f.shape[1:]).clone() for f in fields))


def _flat_grad(value: torch.Tensor, controller: Controller) -> torch.Tensor:
    grads = torch.autograd.grad(value, list(controller.parameters()), allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, controller.parameters())])


def exact_gradient(controller: Controller, episode: Episodes, steps: int) -> tuple[torch.Tensor, float]:
    """The gradient of the expected total reward over all ``num_actions ** steps`` action sequences.

    Every sequence runs all ``steps`` steps, its probability including the actions after the
    episode ended, so the probabilities sum to one and each prefix is counted exactly once.
    """
    sequences = torch.tensor(list(itertools.product(range(controller.num_actions), repeat=steps))).T
    trajectory = rollout(controller, _repeat(episode, sequences.shape[1]), forced=sequences, max_steps=steps)
    log_p = torch.log_softmax(trajectory.scores, -1).gather(-1, sequences[..., None]).squeeze(-1).sum(0)
    expected = (log_p.exp() * trajectory.rewards.sum(0)).sum()
    return _flat_grad(expected, controller), float(expected.detach())


def estimated_gradient(controller: Controller, episode: Episodes, steps: int, samples: int, seed: int,
                       use_baseline: bool = True) -> torch.Tensor:
    """The REINFORCE estimator's gradient of the expected reward, averaged over ``samples`` episodes."""
    episodes = _repeat(episode, samples)
    episodes.max_steps = torch.full_like(episodes.max_steps, steps)
    trajectory = rollout(controller, episodes, policy="sample", generator=torch.Generator().manual_seed(seed))
    return -_flat_grad(policy_surrogate(trajectory, use_baseline), controller)


def check_reinforce_gradient(controller: Controller, episode: Episodes, steps: int, samples: int = 100_000,
                             seed: int = 0, use_baseline: bool = True) -> GradientCheck:
    """Compare the exact gradient with the estimator's average on one instance and ``steps`` steps."""
    exact, value = exact_gradient(controller, episode, steps)
    return GradientCheck(exact, estimated_gradient(controller, episode, steps, samples, seed, use_baseline), value)
