"""Feed-forward, LSTM and GRU controllers: one layer that sees the symbol under the head and its
previous action, and three heads: action scores (Q-values or policy logits), the symbol to write,
and a baseline value for REINFORCE."""

from __future__ import annotations

import torch
from torch import nn

from algosynth.errors import AlgosynthError
from algosynth.tape.tasks import NUM_OUTPUTS, NUM_SYMBOLS, TapeTask

CONTROLLER_NAMES = ("ff", "lstm", "gru")
SYMBOL_HEADS = ("state", "input")

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None


class Controller(nn.Module):
    """``step(symbol, previous_action, state)`` returns (action scores, symbol logits, baseline, state).

    ``previous_action`` is ``num_actions`` before the first step. The feed-forward controller has
    no state: the previous action is all it remembers, which is what lets it extrapolate.
    ``symbol_head`` ``state`` reads the symbol to write from the hidden state (Zaremba et al.);
    ``input`` reads it from the current input and previous action only, so a recurrent controller
    can still count or carry for its moves but cannot write from memory (ours, for repeat copy).
    """

    def __init__(self, kind: str, num_actions: int, width: int, symbol_head: str = "state"):
        super().__init__()
        if kind not in CONTROLLER_NAMES:
            raise AlgosynthError(f"unknown controller {kind!r}; choose one of {', '.join(CONTROLLER_NAMES)}")
        if symbol_head not in SYMBOL_HEADS:
            raise AlgosynthError(f"unknown symbol head {symbol_head!r}; choose one of {', '.join(SYMBOL_HEADS)}")
        self.kind, self.num_actions, self.width, self.symbol_head = kind, num_actions, width, symbol_head
        inputs = NUM_SYMBOLS + num_actions + 1
        if kind == "ff":
            self.core = nn.Linear(inputs, width)
        else:
            self.core = (nn.LSTMCell if kind == "lstm" else nn.GRUCell)(inputs, width)
        self.actions = nn.Linear(width, num_actions)
        self.symbol = nn.Linear(width if symbol_head == "state" else inputs, NUM_OUTPUTS)
        self.baseline = nn.Linear(width, 1)

    def recurrent_parameters(self) -> list[nn.Parameter]:
        """For the shared optimiser builder: the LR throttle does not apply to tape controllers."""
        return []

    def step(self, symbol: torch.Tensor, previous_action: torch.Tensor, state: State):
        x = torch.cat([nn.functional.one_hot(symbol, NUM_SYMBOLS), nn.functional.one_hot(previous_action, self.num_actions + 1)], -1).float()
        if self.kind == "ff":
            hidden, state = torch.tanh(self.core(x)), None
        elif self.kind == "lstm":
            state = self.core(x, state)
            hidden = state[0]
        else:
            state = hidden = self.core(x, state)
        symbol_logits = self.symbol(hidden if self.symbol_head == "state" else x)
        return self.actions(hidden), symbol_logits, self.baseline(hidden).squeeze(-1), state


def build_controller(model_config, task: TapeTask) -> Controller:
    """``model_config`` is a ModelConfig: ``name`` is ff, lstm or gru, ``width`` the layer size and
    ``symbol_head`` where the written symbol is read from."""
    return Controller(model_config.name, task.num_actions, model_config.width, model_config.symbol_head)
