// Upload Image / Upload Video: pick or drop a file, watch it upload, see it. Uses
// `POST /api/media` (multipart `file`, `workflow_id`) and `GET /api/media/{id}`.

import { useRef, useState, type DragEvent } from 'react'

import { currentCsrfToken, parseProblem, formatProblem } from '../api'
import { useEditor } from './context'
import { setValue } from './doc'

const ACCEPT = {
  image: 'image/jpeg,image/png,image/webp,image/gif,.jpg,.jpeg,.png,.webp,.gif',
  video: 'video/mp4,video/quicktime,video/webm,.mp4,.mov,.webm,.m4v',
}

interface Uploaded {
  id: string
}

function send(file: File, workflowId: string, onProgress: (share: number) => void): Promise<Uploaded> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest()
    request.open('POST', '/api/media')
    const token = currentCsrfToken()
    if (token) request.setRequestHeader('x-csrf-token', token)
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total)
    request.onerror = () => reject(new Error('The upload failed: the network connection was lost.'))
    request.onload = () => {
      if (request.status === 404 || request.status === 405) {
        reject(new Error('Uploads are not available on this server yet.'))
      } else if (request.status >= 200 && request.status < 300) {
        resolve(JSON.parse(request.responseText) as Uploaded)
      } else {
        reject(new Error(formatProblem(parseProblem(request.status, request.getResponseHeader('content-type'), request.responseText))))
      }
    }
    const form = new FormData()
    form.append('file', file)
    form.append('workflow_id', workflowId)
    request.send(form)
  })
}

export function UploadField({ nodeId, name, kind, mediaId, disabled }: { nodeId: string; name: string; kind: 'image' | 'video'; mediaId: string; disabled: boolean }) {
  const { doc, workflowId } = useEditor()
  const input = useRef<HTMLInputElement>(null)
  const [progress, setProgress] = useState<number | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [over, setOver] = useState(false)

  async function upload(file: File) {
    setError(null)
    setProgress(0)
    try {
      const media = await send(file, workflowId, setProgress)
      setValue(doc, nodeId, name, media.id)
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e))
    } finally {
      setProgress(null)
      if (input.current) input.current.value = ''
    }
  }

  function onDrop(event: DragEvent) {
    const file = event.dataTransfer.files[0]
    if (!file) return
    event.preventDefault()
    event.stopPropagation()
    setOver(false)
    if (!disabled) void upload(file)
  }

  return (
    <div
      className={`upload nodrag${over ? ' over' : ''}`}
      onDragOver={(e) => e.dataTransfer.types.includes('Files') && (e.preventDefault(), e.stopPropagation(), setOver(true))}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      {mediaId ? (
        kind === 'image' ? (
          <img className="preview" src={`/api/media/${encodeURIComponent(mediaId)}?w=256`} alt="Uploaded image" />
        ) : (
          <video className="preview" src={`/api/media/${encodeURIComponent(mediaId)}`} controls preload="metadata" aria-label="Uploaded video" />
        )
      ) : (
        <p className="upload-hint">{disabled ? `No ${kind} yet` : `Drop ${kind === 'image' ? 'an image' : 'a video'} here`}</p>
      )}
      {progress !== null && (
        <div className="progress" role="progressbar" aria-label="Upload progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(progress * 100)}>
          <div style={{ width: `${Math.round(progress * 100)}%` }} />
        </div>
      )}
      {!disabled && (
        <button className="small" onClick={() => input.current?.click()} disabled={progress !== null}>
          {mediaId ? `Replace ${kind}` : `Choose ${kind}…`}
        </button>
      )}
      <input
        ref={input}
        type="file"
        accept={ACCEPT[kind]}
        className="visually-hidden"
        aria-label={`${kind === 'image' ? 'Image' : 'Video'} file`}
        tabIndex={-1}
        onChange={(e) => e.target.files?.[0] && void upload(e.target.files[0])}
      />
      {error && (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </div>
  )
}
