// The `xmlrpc` package's internal modules that Federate uses directly (its codec, never its
// server or client). @types/xmlrpc describes only the public entry; these are CommonJS, and
// their module.exports is the default import.

declare module 'xmlrpc/lib/deserializer.js' {
  const Deserializer: unknown
  export default Deserializer
}
declare module 'xmlrpc/lib/serializer.js' {
  const serializer: unknown
  export default serializer
}
declare module 'xmlrpc/lib/date_formatter.js' {
  const formatter: unknown
  export default formatter
}
