// What the compare view says about each finished sample, from the logprobs the server returned.
// A token here is {text, logprob, top, offset}: its text, the model's log-probability of it (natural log,
// before temperature and truncation: the server's `token_logprobs`), and `top`, the server's `top_logprobs`
// entry for its position (the likeliest tokens' texts -> log-probabilities, at most 5 of them).
"use strict";

// Mean log-probability per generated token, in nats: near 0 for predictable text, very negative for surprising text.
export function meanLogprob(tokens) {
  const values = tokens.map((token) => token.logprob).filter((value) => Number.isFinite(value));
  return values.length ? values.reduce((sum, value) => sum + value, 0) / values.length : null;
}

// The model's entropy at each generated position, averaged, in nats, estimated from the top alternatives.
// The server returns the k likeliest tokens' probabilities p_1..p_k (k <= 5), so the rest of the vocabulary
// holds r = 1 - sum(p). `estimate` counts the rest as one outcome: -sum(p log p) - r log r, a lower bound on
// the true entropy (merging outcomes never raises entropy), exact when the k tokens hold all the mass.
// `upper` spreads r evenly over the other vocabularySize - k tokens, adding r log(vocabularySize - k): an
// upper bound. For a sample drawn at temperature 1, the mean -log-probability estimates the same entropy.
export function entropyPerToken(tokens, vocabularySize) {
  let lower = 0;
  let upper = 0;
  let count = 0;
  for (const token of tokens) {
    if (!token.top) continue;
    const probabilities = Object.values(token.top).filter((value) => Number.isFinite(value)).map(Math.exp);
    const rest = Math.max(0, 1 - probabilities.reduce((sum, p) => sum + p, 0));
    let entropy = 0;
    for (const p of [...probabilities, rest]) if (p > 0) entropy -= p * Math.log(p);
    lower += entropy;
    const others = (vocabularySize ?? 0) - probabilities.length;
    upper += others > 1 ? entropy + rest * Math.log(others) : entropy;
    count += 1;
  }
  if (!count) return null;
  return { estimate: lower / count, upper: vocabularySize ? upper / count : null };
}

// distinct-n: the share of the sample's n-grams of tokens that are different (1 = no repeats; low = loops).
export function distinct(texts, n) {
  const total = texts.length - n + 1;
  if (total <= 0) return null;
  const seen = new Set();
  for (let i = 0; i < total; i++) seen.add(JSON.stringify(texts.slice(i, i + n)));
  return seen.size / total;
}
