// The canvas's overview in a corner: every node as one rectangle of a single path, and the part of
// the flow on screen. React Flow's own minimap gives each node a component and a store subscriber:
// on a 500-node canvas that was a third of every frame of a pan. Drag in it to move the view,
// click to centre the view there, scroll to zoom.

import { Panel, useReactFlow, useStore, type ReactFlowState } from '@xyflow/react'
import { useMemo, useRef, type PointerEvent as ReactPointerEvent, type WheelEvent as ReactWheelEvent } from 'react'

import { nodeOutlines, overviewFrame, visibleRect, type FlowNode, type Rect } from './flow'

const PANEL = { width: 168, height: 112 }
/** How far the visible box's border reaches: past the panel from anywhere inside it. */
const SHADE = 200

const transformOf = (s: ReactFlowState) => s.transform
const widthOf = (s: ReactFlowState) => s.width
const heightOf = (s: ReactFlowState) => s.height

export function Overview({ nodes }: { nodes: readonly FlowNode[] }) {
  const flow = useReactFlow()
  const [x, y, zoom] = useStore(transformOf)
  const width = useStore(widthOf)
  const height = useStore(heightOf)
  const outlines = useMemo(() => nodeOutlines(nodes), [nodes])
  const kept = useRef<Rect | null>(null)
  const visible = visibleRect({ x, y, zoom }, width, height)
  const viewBox = overviewFrame(outlines.bounds, visible, PANEL, kept.current)
  kept.current = viewBox
  // The visible part is a box moved by its transform over the nodes' picture (which is not drawn
  // again for it), its wide translucent border darkening the rest.
  const px = PANEL.width / viewBox.width
  const seen = {
    borderWidth: SHADE,
    width: `${Math.round(visible.width * px) + 2 * SHADE}px`,
    height: `${Math.round(visible.height * px) + 2 * SHADE}px`,
    transform: `translate(${Math.round((visible.x - viewBox.x) * px) - SHADE}px, ${Math.round((visible.y - viewBox.y) * px) - SHADE}px)`,
  }
  const svg = useRef<SVGSVGElement>(null)
  const dragging = useRef(false)

  const centreAt = (event: ReactPointerEvent) => {
    const matrix = svg.current?.getScreenCTM()
    if (!matrix) return
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse())
    void flow.setCenter(point.x, point.y, { zoom: flow.getZoom() })
  }
  const onWheel = (event: ReactWheelEvent) => {
    if (event.deltaY < 0) void flow.zoomIn({ duration: 0 })
    else if (event.deltaY > 0) void flow.zoomOut({ duration: 0 })
  }

  return (
    <Panel position="bottom-right" className="overview">
      <div
        className="overview-box"
        role="img"
        aria-label="Overview of the canvas"
        onPointerDown={(event) => {
          dragging.current = true
          event.currentTarget.setPointerCapture(event.pointerId)
          centreAt(event)
        }}
        onPointerMove={(event) => dragging.current && centreAt(event)}
        onPointerUp={() => (dragging.current = false)}
        onPointerCancel={() => (dragging.current = false)}
        onWheel={onWheel}
      >
        <svg ref={svg} width={PANEL.width} height={PANEL.height} viewBox={`${viewBox.x} ${viewBox.y} ${viewBox.width} ${viewBox.height}`} aria-hidden="true">
          <path className="overview-nodes" d={outlines.path} data-count={nodes.length} />
        </svg>
        <div className="overview-view" style={seen} />
      </div>
    </Panel>
  )
}
