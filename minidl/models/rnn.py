"""A sequence classifier: token embedding, a recurrent layer, a Linear on the final state."""
from .. import nn
from ..ops import cat


class RNNClassifier(nn.Module):
    """Embedding -> LSTM or GRU (batch first) -> Linear on the last layer's final hidden state(s).

    Inputs are int64 token ids of shape (batch, time); 0 is the padding id.

    Example:
        >>> m = RNNClassifier(vocab_size=100, num_classes=2, cell="gru")
        >>> m(md.randint(0, 100, (3, 12))).shape
        (3, 2)
    """

    def __init__(self, vocab_size, num_classes=2, embed_dim=32, hidden_size=64, cell="lstm", num_layers=1,
                 bidirectional=False, dropout=0.0):
        super().__init__()
        cells = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
        if cell not in cells:
            raise ValueError(f"RNNClassifier: unknown cell {cell!r} (choose lstm, gru or rnn)")
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = cells[cell](embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.directions = 2 if bidirectional else 1
        self.head = nn.Linear(hidden_size * self.directions, num_classes)

    def forward(self, tokens):
        _, state = self.rnn(self.embedding(tokens))
        h_n = state[0] if self.cell == "lstm" else state          # (layers * directions, batch, hidden)
        last = [h_n[-self.directions + d] for d in range(self.directions)]
        return self.head(last[0] if self.directions == 1 else cat(last, dim=1))
