"""Run a controller over a batch of episodes and keep what learning and rendering need."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from algosynth.tape.controllers import Controller, State
from algosynth.tape.env import TapeEnv
from algosynth.tape.tasks import Episodes


@contextmanager
def one_thread() -> Iterator[None]:
    """Run with one intra-op thread: the controllers are so small that a second thread only adds
    synchronisation, which costs 10x or more on a busy machine (measured: 5.5 s against 85 s)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class Trajectory:
    """Per step ``t`` and episode ``b`` (``[T, B, ...]``); steps after an episode ended have ``alive`` false.

    ``scores``, ``symbol_logits`` and ``baseline`` keep their autograd graph (None when not kept);
    ``left`` is the number of output symbols still to write before the step; ``expected`` the
    symbol a write at that step should produce; ``greedy`` whether the action was the greedy one.
    """

    scores: torch.Tensor | None
    symbol_logits: torch.Tensor | None
    baseline: torch.Tensor | None
    actions: torch.Tensor
    greedy: torch.Tensor
    symbols: torch.Tensor
    rewards: torch.Tensor
    alive: torch.Tensor
    ended: torch.Tensor
    left: torch.Tensor
    expected: torch.Tensor
    positions: torch.Tensor
    observed: torch.Tensor
    success: torch.Tensor
    written: torch.Tensor


def perturb(state: State, std: float, generator: torch.Generator | None) -> State:
    """The state plus independent Gaussian noise; an LSTM's hidden and cell states are both perturbed."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(perturb(part, std, generator) for part in state)
    return state + std * torch.randn(state.shape, generator=generator)


def exploration_runs(batch: int, longest: int, generator: torch.Generator | None) -> torch.Tensor:
    """Run lengths n in 1..longest with P(n) proportional to 1/n^2: the heavy tail of Dabney et al.'s
    (2021) ez-greedy, mostly single steps but now and then a run long enough to cross a tape."""
    weights = 1.0 / torch.arange(1, longest + 1, dtype=torch.float) ** 2
    return torch.multinomial(weights, batch, replacement=True, generator=generator) + 1


def rollout(
    controller: Controller,
    episodes: Episodes,
    policy: str = "greedy",
    epsilon: torch.Tensor | float = 0.0,
    generator: torch.Generator | None = None,
    forced: torch.Tensor | None = None,
    keep_outputs: bool = True,
    max_steps: int | None = None,
    state_noise: float = 0.0,
    explore_duration: int = 1,
) -> Trajectory:
    """``policy``: ``greedy`` (argmax), ``epsilon`` (epsilon-greedy on Q-values, per-episode epsilon)
    or ``sample`` (softmax policy). ``forced`` ``[T, B]`` actions override the policy (gradient check).
    ``state_noise`` adds Gaussian noise of that std to the recurrent state after every step (drawn
    from ``generator``), so training must find dynamics that pull a perturbed state back.
    ``explore_duration`` > 1 makes epsilon-greedy temporally extended: an exploratory action is held
    for a run of steps (see ``exploration_runs``), so a chain of identical silent moves is tried at once."""
    env = TapeEnv(episodes)
    batch = len(episodes)
    previous = torch.full((batch,), controller.num_actions, dtype=torch.long)
    epsilon = torch.as_tensor(epsilon, dtype=torch.float).expand(batch)
    state = None
    held_action = torch.zeros(batch, dtype=torch.long)
    held_steps = torch.zeros(batch, dtype=torch.long)
    keys = ("scores", "symbol_logits", "baseline", "actions", "greedy", "symbols", "rewards", "alive", "ended",
            "left", "expected", "positions", "observed")
    record: dict[str, list[torch.Tensor]] = {key: [] for key in keys}
    limit = int(episodes.max_steps.max()) if max_steps is None else max_steps
    for t in range(limit):
        alive = ~env.done
        if forced is None and not alive.any():
            break
        observed = env.observe()
        record["positions"].append(env.position.clone())
        scores, symbol_logits, baseline, state = controller.step(observed, previous, state)
        if state_noise:
            state = perturb(state, state_noise, generator)
        best = scores.detach().argmax(-1)
        if forced is not None:
            action = forced[t]
        elif policy == "sample":
            action = torch.multinomial(torch.softmax(scores.detach(), -1), 1, generator=generator).squeeze(-1)
        elif policy == "epsilon":
            explore = torch.rand(batch, generator=generator) < epsilon
            random = torch.randint(0, controller.num_actions, (batch,), generator=generator)
            if explore_duration > 1:
                start = explore & (held_steps == 0)
                held_action = torch.where(start, random, held_action)
                held_steps = torch.where(start, exploration_runs(batch, explore_duration, generator), held_steps)
                explore, random = held_steps > 0, held_action
                held_steps = (held_steps - 1).clamp(min=0)
            action = torch.where(explore, random, best)
        else:
            action = best
        symbol = symbol_logits.detach().argmax(-1)
        left, expected = env.left_to_write(), env.expected()
        result = env.step(action, symbol)
        for key, value in (("actions", action), ("greedy", action == best), ("symbols", symbol), ("rewards", result.reward),
                           ("alive", alive), ("ended", result.done & alive), ("left", left), ("expected", expected),
                           ("observed", observed)):
            record[key].append(value)
        if keep_outputs:
            for key, value in (("scores", scores), ("symbol_logits", symbol_logits), ("baseline", baseline)):
                record[key].append(value)
        previous = action
    stacked = {key: torch.stack(values) if values else None for key, values in record.items()}
    return Trajectory(**stacked, success=env.success.clone(), written=env.written.clone())


@torch.no_grad()
def replay_scores(controller: Controller, trajectory: Trajectory) -> torch.Tensor:
    """Another controller's action scores ``[T, B, A]`` along a recorded trajectory (same inputs,
    same previous actions, no state noise): the target network's view of the states visited."""
    previous = torch.cat([torch.full_like(trajectory.actions[:1], controller.num_actions), trajectory.actions[:-1]])
    state, scores = None, []
    for observed, before in zip(trajectory.observed, previous):
        step_scores, _, _, state = controller.step(observed, before, state)
        scores.append(step_scores)
    return torch.stack(scores)
