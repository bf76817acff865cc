import { FaultError } from '@federate/protocol'

// A strict, small XML reader that feeds the `xmlrpc` package's deserializer the same events
// sax (non-strict, as the deserializer creates it) would: open tag with an upper-cased name,
// text, CDATA, close tag. Why not sax itself: sax's lenient mode accepts mismatched and
// unclosed tags and DTDs, and it cost two thirds of a call.step's CPU. This reader refuses what
// we never want (DOCTYPE/ENTITY, unknown entities, bad nesting, non-UTF-8 declarations),
// bounds the depth while it reads, and walks the string with indexOf. XML-RPC uses no
// attributes and no namespaces: attributes are checked for well-formedness and ignored.

/** What the reader reports; the deserializer's handlers have these shapes. */
export interface XmlSink {
  onOpentag: (node: { name: string }) => void
  onClosetag: (name: string) => void
  onText: (text: string) => void
  onCDATA: (text: string) => void
}

const ENCODING = /encoding\s*=\s*["']([^"']*)["']/
const UTF8_NAMES = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii'])
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: '\'' }
const upper = new Map<string, { name: string }>()

function malformed (detail: string): FaultError {
  return new FaultError('PARSE_ERROR', detail)
}

function isSpace (c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

function isBlank (text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isSpace(text.charCodeAt(i))) return false
  return true
}

// Characters that end a tag name or cannot be in one.
function endsName (c: number): boolean {
  return isSpace(c) || c === 0x2f || c === 0x3e || c === 0x3c || c === 0x3d || c === 0x22 || c === 0x27 || c === 0x26 || c === 0x21 || c === 0x3f
}

// The end of a start tag: the next `>` outside a quoted attribute value.
function tagEnd (text: string, from: number): number {
  let quote = 0
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (quote !== 0) {
      if (c === quote) quote = 0
    } else if (c === 0x22 || c === 0x27) {
      quote = c
    } else if (c === 0x3e) {
      return i
    } else if (c === 0x3c) {
      return -1
    }
  }
  return -1
}

/** Replaces the five XML entities and character references; anything else is malformed. */
export function decodeEntities (text: string): string {
  let amp = text.indexOf('&')
  if (amp === -1) return text
  let out = ''
  let from = 0
  while (amp !== -1) {
    const semi = text.indexOf(';', amp + 1)
    if (semi === -1 || semi - amp > 12) throw malformed('bare & or unterminated entity')
    const name = text.slice(amp + 1, semi)
    let value = ENTITIES[name]
    if (value === undefined) {
      const code = name.startsWith('#x') ? Number.parseInt(name.slice(2), 16) : name.startsWith('#') ? Number(name.slice(1)) : NaN
      if (!(/^#(?:\d+|x[0-9a-fA-F]+)$/.test(name)) || !(code >= 1 && code <= 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) {
        throw malformed(`unknown entity &${name.slice(0, 12)};`)
      }
      value = String.fromCodePoint(code)
    }
    out += text.slice(from, amp) + value
    from = semi + 1
    amp = text.indexOf('&', from)
  }
  return out + text.slice(from)
}

/**
 * Reads `text` as one XML element no deeper than `maxDepth` and reports it to `sink`.
 * Throws a FaultError: -32600 for DOCTYPE/ENTITY or too deep, -32701 for a non-UTF-8
 * declared encoding, -32700 for anything malformed or truncated.
 */
export function readXml (text: string, maxDepth: number, sink: XmlSink): void {
  const stack: string[] = []
  let i = 0
  let rootClosed = false
  let sawRoot = false
  for (;;) {
    const lt = text.indexOf('<', i)
    if (lt === -1) {
      if (stack.length > 0) throw malformed(`unexpected end of document inside <${stack[stack.length - 1]}>`)
      if (!sawRoot) throw malformed('no root element')
      if (!isBlank(text, i, text.length)) throw malformed('text after the root element')
      return
    }
    if (lt > i) {
      if (stack.length === 0) {
        if (!isBlank(text, i, lt)) throw malformed('text outside the root element')
      } else {
        sink.onText(decodeEntities(text.slice(i, lt)))
      }
    }
    const c = text.charCodeAt(lt + 1)
    if (c === 0x3f) { // <? processing instruction or XML declaration
      const end = text.indexOf('?>', lt + 2)
      if (end === -1) throw malformed('unterminated processing instruction')
      if (text.startsWith('<?xml', lt) && isSpace(text.charCodeAt(lt + 5))) {
        if (lt !== 0) throw malformed('XML declaration not at the start')
        const enc = ENCODING.exec(text.slice(lt, end))
        if (enc !== null && !UTF8_NAMES.has(enc[1]!.toLowerCase())) {
          throw new FaultError('UNSUPPORTED_ENCODING', `only UTF-8 is accepted, not ${enc[1]!.slice(0, 40)}`)
        }
      }
      i = end + 2
      continue
    }
    if (c === 0x21) { // <!
      if (text.startsWith('<!--', lt)) {
        const end = text.indexOf('-->', lt + 4)
        if (end === -1) throw malformed('unterminated comment')
        i = end + 3
        continue
      }
      if (text.startsWith('<![CDATA[', lt)) {
        if (stack.length === 0) throw malformed('CDATA outside the root element')
        const end = text.indexOf(']]>', lt + 9)
        if (end === -1) throw malformed('unterminated CDATA section')
        sink.onCDATA(text.slice(lt + 9, end))
        i = end + 3
        continue
      }
      // DOCTYPE, ENTITY, ELEMENT, ATTLIST: a DTD has no place in XML-RPC (billion laughs, XXE).
      throw new FaultError('INVALID_REQUEST', 'DOCTYPE and ENTITY declarations are not accepted')
    }
    if (c === 0x2f) { // </name>
      const end = text.indexOf('>', lt + 2)
      if (end === -1) throw malformed('unterminated end tag')
      const open = stack.pop()
      let nameEnd = end
      while (nameEnd > lt + 2 && isSpace(text.charCodeAt(nameEnd - 1))) nameEnd--
      if (open === undefined || nameEnd - (lt + 2) !== open.length || !text.startsWith(open, lt + 2)) {
        const name = text.slice(lt + 2, Math.min(nameEnd, lt + 42))
        throw malformed(open === undefined ? `unexpected </${name}>` : `<${open}> closed by </${name}>`)
      }
      sink.onClosetag(upper.get(open)?.name ?? open.toUpperCase())
      if (stack.length === 0) rootClosed = true
      i = end + 1
      continue
    }
    let nameEnd = lt + 1
    while (nameEnd < text.length && !endsName(text.charCodeAt(nameEnd))) nameEnd++
    if (nameEnd === lt + 1) throw malformed('invalid tag name')
    const end = tagEnd(text, nameEnd)
    if (end === -1) throw malformed('unterminated start tag')
    const after = text.charCodeAt(nameEnd)
    if (!(isSpace(after) || after === 0x2f || after === 0x3e)) throw malformed('invalid tag name')
    const selfClosing = text.charCodeAt(end - 1) === 0x2f
    if (rootClosed) throw malformed('more than one root element')
    sawRoot = true
    const name = text.slice(lt + 1, nameEnd)
    let node = upper.get(name)
    if (node === undefined) {
      node = { name: name.toUpperCase() }
      if (upper.size < 256) upper.set(name, node) // XML-RPC has a dozen names; never grow unbounded
    }
    sink.onOpentag(node)
    if (selfClosing) {
      sink.onClosetag(node.name)
      if (stack.length === 0) rootClosed = true
    } else {
      stack.push(name)
      if (stack.length > maxDepth) throw new FaultError('INVALID_REQUEST', `elements nested deeper than ${maxDepth}`)
    }
    i = end + 1
  }
}

const NOTHING: XmlSink = { onOpentag () {}, onClosetag () {}, onText () {}, onCDATA () {} }

/** Checks `text` the way readXml does, reporting nothing. */
export function checkXml (text: string, maxDepth: number): void {
  readXml(text, maxDepth, NOTHING)
}
