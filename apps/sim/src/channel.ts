// What AMI can see of a simulated channel (the fields of Asterisk's channel snapshot).

export const CHANNEL_STATES = { Down: 0, Rsrvd: 1, OffHook: 2, Dialing: 3, Ring: 4, Ringing: 5, Up: 6, Busy: 7 } as const
export type ChannelState = keyof typeof CHANNEL_STATES

export interface SimChannel {
  name: string
  uniqueid: string
  linkedid: string
  state: ChannelState
  callerIdNum: string
  callerIdName: string
  connectedNum: string
  connectedName: string
  accountCode: string
  context: string
  exten: string
  priority: number
  application: string
  applicationData: string
  bridgeId: string
  /** Simulated ms when the channel was created. */
  createdAt: number
}

const orUnknown = (v: string): string => v === '' ? '<unknown>' : v

/** The channel snapshot headers Asterisk (12+) puts in every channel event, in its order. */
export function snapshotFields (c: SimChannel): Array<[string, string | number]> {
  return [
    ['Channel', c.name],
    ['ChannelState', CHANNEL_STATES[c.state]],
    ['ChannelStateDesc', c.state],
    ['CallerIDNum', orUnknown(c.callerIdNum)],
    ['CallerIDName', orUnknown(c.callerIdName)],
    ['ConnectedLineNum', orUnknown(c.connectedNum)],
    ['ConnectedLineName', orUnknown(c.connectedName)],
    ['Language', 'en'],
    ['AccountCode', c.accountCode],
    ['Context', c.context],
    ['Exten', c.exten],
    ['Priority', c.priority],
    ['Uniqueid', c.uniqueid],
    ['Linkedid', c.linkedid],
  ]
}

/** HH:MM:SS, the way CoreShowChannel reports Duration. */
export function hms (seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  const p = (n: number): string => String(n).padStart(2, '0')
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}`
}
