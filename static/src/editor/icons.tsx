// One small line icon per node type (by type, then by category), drawn on a 16-unit grid.
// Drawn as a CSS background image rather than inline SVG: an inline <svg> is a replaced element
// with its own clip and transform, and 500 of them on a canvas made every frame of a pan re-sort
// thousands of paint chunks into layers (bench/README.md, "Editor in the browser").

const PATHS: Record<string, string> = {
  text: 'M3 3h10M8 3v10M6 13h4',
  upload_image: 'M2 3h12v10H2zM2 11l4-4 3 3 2-2 3 3M10.5 6.5h.01',
  upload_video: 'M2 4h9v8H2zM11 7l3-2v6l-3-2',
  llm: 'M8 2l1.5 4.5L14 8l-4.5 1.5L8 14l-1.5-4.5L2 8l4.5-1.5z',
  crop_image: 'M4 1v11h11M1 4h11v11',
  extract_frame: 'M2 3h12v10H2zM5 3v10M11 3v10M2 6h3M2 10h3M11 6h3M11 10h3',
  inputs: 'M8 2v9M4 7l4 4 4-4M3 14h10',
  ai: 'M8 2l1.5 4.5L14 8l-4.5 1.5L8 14l-1.5-4.5L2 8l4.5-1.5z',
  image: 'M2 3h12v10H2zM2 11l4-4 3 3 2-2 3 3',
  video: 'M2 4h9v8H2zM11 7l3-2v6l-3-2',
}
const FALLBACK = 'M3 3h10v10H3z'
/** The icons' colour: the theme's accent (--accent in styles.css). */
const STROKE = '#7c9cff'

const images = new Map<string, string>()

function image(path: string): string {
  let url = images.get(path)
  if (!url) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="${path}" fill="none" stroke="${STROKE}" stroke-width="1.4" stroke-linecap="round" stroke-linejoin="round"/></svg>`
    url = `url("data:image/svg+xml,${encodeURIComponent(svg)}")`
    images.set(path, url)
  }
  return url
}

export function NodeIcon({ type, category }: { type: string; category?: string }) {
  const path = PATHS[type] ?? (category && PATHS[category]) ?? FALLBACK
  return <span className="node-icon" aria-hidden="true" style={{ backgroundImage: image(path) }} />
}
