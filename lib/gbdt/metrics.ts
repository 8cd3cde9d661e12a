/** Metrics the trainer reports and early-stops on. */

/** Mean binary log loss of raw scores (log-odds), computed stably. */
export function loglossFromRaw(raw: Float64Array, labels: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < raw.length; i++) {
    const z = raw[i]!;
    // -log(sigmoid(z)) = softplus(-z); -log(1 - sigmoid(z)) = softplus(z)
    const t = labels[i] ? -z : z;
    s += t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
  }
  return raw.length > 0 ? s / raw.length : 0;
}

/** ROC-AUC by ranks (ties get the average rank); 0.5 when one class is absent. */
export function rocAuc(scores: ArrayLike<number>, labels: Uint8Array): number {
  const n = scores.length;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a]! - scores[b]!);
  let nPos = 0;
  for (let i = 0; i < n; i++) nPos += labels[i]!;
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return 0.5;
  let rankSumPos = 0;
  let i = 0;
  while (i < n) {
    let j = i + 1;
    const s = scores[order[i]!]!;
    while (j < n && scores[order[j]!]! === s) j++;
    const avgRank = (i + 1 + j) / 2;
    let posInTie = 0;
    for (let k = i; k < j; k++) posInTie += labels[order[k]!]!;
    rankSumPos += posInTie * avgRank;
    i = j;
  }
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
