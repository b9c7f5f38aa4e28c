// Search result snippets without raw TeX (review W8). Sphinx's search fetches each page and
// shows its text, where formulas are still TeX source (MathJax typesets them only on the page):
// "\(\Theta^{(L)}(x, x')\)". Before the snippet is cut, each formula becomes plain text with
// Unicode symbols: "Θ^(L)(x, x')". The search itself (the index) is unchanged.
const NTK_TEX_SYMBOLS = {
  alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", zeta: "ζ",
  eta: "η", theta: "θ", vartheta: "θ", kappa: "κ", lambda: "λ", mu: "μ", nu: "ν", xi: "ξ",
  pi: "π", rho: "ρ", sigma: "σ", tau: "τ", phi: "φ", varphi: "φ", chi: "χ", psi: "ψ",
  omega: "ω", Gamma: "Γ", Delta: "Δ", Theta: "Θ", Lambda: "Λ", Xi: "Ξ", Pi: "Π",
  Sigma: "Σ", Phi: "Φ", Psi: "Ψ", Omega: "Ω", top: "ᵀ", infty: "∞", sum: "Σ", prod: "Π",
  int: "∫", partial: "∂", nabla: "∇", sqrt: "√", cdot: "·", times: "×", le: "≤", leq: "≤",
  ge: "≥", geq: "≥", ne: "≠", neq: "≠", approx: "≈", sim: "∼", to: "→", rightarrow: "→",
  mapsto: "↦", in: "∈", ell: "ℓ", mid: "|", lVert: "‖", rVert: "‖", Vert: "‖", langle: "⟨",
  rangle: "⟩", dots: "…", ldots: "…", cdots: "⋯", pm: "±", otimes: "⊗", circ: "∘",
};

function ntkPlainMath(tex) {
  let s = tex.replace(/^\s*(\\\(|\\\[|\$\$?)/, "").replace(/(\\\)|\\\]|\$\$?)\s*$/, "");
  s = s.replace(/\\(begin|end)\{[^{}]*\}/g, " ");
  for (let before = ""; before !== s; ) {   // \frac{a}{b} -> a/b, innermost first
    before = s;
    s = s.replace(/\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}/g, "($1)/($2)")
         .replace(/\(([A-Za-z]|\d+)\)\//g, "$1/").replace(/\/\(([A-Za-z]|\d+)\)/g, "/$1");
  }
  s = s.replace(/\\(operatorname|mathrm|mathbf|mathcal|mathbb|boldsymbol|text|textrm|left|right|big|Big|bigg|Bigg|displaystyle|tfrac|frac|hat|tilde|bar|dot)\b/g, "");
  s = s.replace(/\\([A-Za-z]+)/g, (m, name) => NTK_TEX_SYMBOLS[name] ?? name);
  s = s.replace(/\\\\|&/g, " ").replace(/\\[,;:! ]|~/g, " ").replace(/\\\|/g, "‖");
  s = s.replace(/\\([{}])/g, "$1").replace(/[{}]/g, "");
  return s.replace(/\s+/g, " ").trim();
}

document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined" || typeof Search.htmlToText !== "function") return;
  const htmlToText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll("span.math, div.math").forEach((el) => {
      el.textContent = ` ${ntkPlainMath(el.textContent)} `;
    });
    return htmlToText(doc.documentElement.outerHTML, anchor);
  };
});
