// Building DOM nodes without ever parsing markup: data reaches the page only as text and attributes.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "class") node.setAttribute("class", value);
    else if (name === "dataset") for (const [key, v] of Object.entries(value)) { if (v !== null && v !== undefined) node.dataset[key] = String(v); }
    else if (name === "style") for (const [key, v] of Object.entries(value)) node.style.setProperty(key, v);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: el("td", {class: "num", dataset: {col: "units"}}, "12"). Strings become text nodes. */
export function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, the same way. */
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replace every child of `parent` with `children`. */
export function replaceChildren(parent, ...children) {
  parent.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** Set `node.textContent` only when it changes (keeps screen readers from re-announcing). */
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

/**
 * Run `draw()` only when `signature` differs from the last one drawn into `node`, so a poll that
 * brings the same figures does not rebuild (and flicker) what is on screen.
 */
export function drawIfChanged(node, signature, draw) {
  if (node.__signature === signature) return false;
  draw();
  node.__signature = signature;
  return true;
}
