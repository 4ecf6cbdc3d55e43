import { createContext, useContext } from 'react'
import type * as Y from 'yjs'

import type { SpecMap } from './specs'

/** What every node component needs besides its own data: the document and what it may do. */
export interface EditorContextValue {
  doc: Y.Doc
  specs: SpecMap
  workflowId: string
  readOnly: boolean
  duplicate: (nodeIds: string[]) => void
  remove: (nodeIds: string[], edgeIds?: string[]) => void
  /** Start a run of these nodes; null when runs cannot start, with the reason in `runBlocked`. */
  runNodes: ((scope: 'full' | 'selected' | 'single', nodeIds: string[]) => void) | null
  runBlocked: string | null
}

export const EditorContext = createContext<EditorContextValue | null>(null)

export function useEditor(): EditorContextValue {
  const value = useContext(EditorContext)
  if (!value) throw new Error('useEditor outside the editor')
  return value
}

/**
 * Whether nodes draw their fields (at 45% zoom and above) or same-sized outlines. Read once by
 * the canvas and handed down, so a pan does not run one selector per node on every frame.
 */
export const DetailContext = createContext(true)

export function useDetailed(): boolean {
  return useContext(DetailContext)
}
