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
