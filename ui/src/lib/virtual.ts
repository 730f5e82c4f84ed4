// Virtualised rows: which rows to draw for a scroll position, and which page of the store
// query holds them. The Runs table draws only these, so 10k runs stay fast.

export interface Window {
  first: number; // first row drawn
  last: number; // one past the last row drawn
  padTop: number; // px above the first row
  padBottom: number; // px below the last row
}

export function visibleRows(total: number, scrollTop: number, viewport: number, rowHeight: number, overscan = 8): Window {
  if (total <= 0 || rowHeight <= 0) return { first: 0, last: 0, padTop: 0, padBottom: 0 };
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(total, Math.ceil((scrollTop + viewport) / rowHeight) + overscan);
  return { first, last, padTop: first * rowHeight, padBottom: (total - last) * rowHeight };
}

/** The page-aligned query range that covers rows `first..last`. */
export function pageFor(first: number, last: number, pageSize: number): { offset: number; limit: number } {
  const offset = Math.floor(first / pageSize) * pageSize;
  const end = Math.ceil(Math.max(last, first + 1) / pageSize) * pageSize;
  return { offset, limit: end - offset };
}
