import {
  buildXml,
  childElement,
  childText,
  parseXmlDocument,
  type XmlElement,
  type XmlObject,
  type XmlReadLimits,
  xmlDeclaration,
} from "./xml-document.ts";

/**
 * SOAP 1.1 envelopes as SEQR's CXF service writes and reads them (seqr-protocol.md §4): document/literal wrapped,
 * only the wrapper element namespaced (elementFormDefault="unqualified"), faults as soap:Fault with HTTP 500.
 */

export const soapEnvelopeNamespace = "http://schemas.xmlsoap.org/soap/envelope/";
/** The documented namespace of the merchant API's types and wrapper elements. */
export const seqrNamespace = "http://external.interfaces.ers.seamless.com/";
/** cashregister-2's Axis stubs use this one; a response in it is read as well. */
export const seqrCashRegisterNamespace = "http://externalclientservice.cashregister.seamless.com/";
export const seqrNamespaces: readonly string[] = [seqrNamespace, seqrCashRegisterNamespace];

export const soapRequestHeaders = {
  "content-type": "text/xml; charset=UTF-8",
  soapaction: '""',
  accept: "text/xml",
} as const;

export interface EnvelopePrefixes {
  /** Prefix of Envelope/Body/Fault, e.g. soapenv (SoapUI), soap (CXF), S (JAX-WS RI). */
  envelope: string;
  /** Prefix of the wrapper element, e.g. ext (ours), ns2 (CXF). */
  wrapper: string;
}

export const requestPrefixes: EnvelopePrefixes = { envelope: "soapenv", wrapper: "ext" };
export const cxfResponsePrefixes: EnvelopePrefixes = { envelope: "soap", wrapper: "ns2" };

/**
 * `<env:Envelope><env:Header/><env:Body><w:{wrapper} xmlns:w="{namespace}">{children}</w:...></env:Body>`.
 * The namespace is declared on the wrapper, never as a default `xmlns=`, which would qualify the children.
 */
export function buildSoapEnvelope(
  wrapperName: string,
  children: XmlObject,
  options: { namespace?: string; prefixes?: EnvelopePrefixes; header?: boolean } = {},
): string {
  const { envelope, wrapper } = options.prefixes ?? requestPrefixes;
  const body: XmlObject = {
    [`${wrapper}:${wrapperName}`]: { [`@_xmlns:${wrapper}`]: options.namespace ?? seqrNamespace, ...children },
  };
  return (
    xmlDeclaration +
    buildXml({
      [`${envelope}:Envelope`]: {
        [`@_xmlns:${envelope}`]: soapEnvelopeNamespace,
        [`${envelope}:Header`]: options.header === false ? undefined : "",
        [`${envelope}:Body`]: body,
      },
    })
  );
}

export interface SoapFault {
  /** The fault code's local part: Client, Server, VersionMismatch, MustUnderstand (or a dotted refinement). */
  faultCode: string;
  faultString: string;
  detail?: string;
}

export function buildSoapFault(fault: SoapFault, envelopePrefix = "soap"): string {
  const p = envelopePrefix;
  return (
    xmlDeclaration +
    buildXml({
      [`${p}:Envelope`]: {
        [`@_xmlns:${p}`]: soapEnvelopeNamespace,
        [`${p}:Body`]: {
          [`${p}:Fault`]: {
            // faultcode/faultstring are unqualified children of Fault (SOAP 1.1 §4.4); the code is a QName.
            faultcode: `${p}:${fault.faultCode}`,
            faultstring: fault.faultString,
            detail: fault.detail,
          },
        },
      },
    })
  );
}

/** The envelope is XML but not a SOAP 1.1 message of the expected shape. */
export class SoapStructureError extends Error {}

export type SoapMessage = { kind: "body"; element: XmlElement } | { kind: "fault"; fault: SoapFault };

/** Reads an envelope: the Body's single element, or its Fault. Prefixes are irrelevant, namespaces are checked. */
export function readSoapEnvelope(xml: string, limits: XmlReadLimits): SoapMessage {
  const root = parseXmlDocument(xml, limits);
  if (root.localName !== "Envelope" || root.namespace !== soapEnvelopeNamespace) {
    throw new SoapStructureError(`root element is ${describe(root)}, not a SOAP 1.1 Envelope`);
  }
  const body = root.children.find((child) => child.localName === "Body" && child.namespace === soapEnvelopeNamespace);
  if (!body) throw new SoapStructureError("the Envelope has no Body");
  if (body.children.length !== 1) {
    throw new SoapStructureError(`the Body holds ${body.children.length} elements, expected one`);
  }
  const element = body.children[0]!;
  if (element.localName === "Fault" && element.namespace === soapEnvelopeNamespace) {
    const code = childText(element, "faultcode") ?? "";
    const detail = childElement(element, "detail");
    return {
      kind: "fault",
      fault: {
        faultCode: code.slice(code.lastIndexOf(":") + 1) || "Server",
        faultString: childText(element, "faultstring") ?? "",
        ...(detail ? { detail: flattenText(detail).slice(0, 500) } : {}),
      },
    };
  }
  return { kind: "body", element };
}

function describe(element: XmlElement): string {
  return element.namespace ? `{${element.namespace}}${element.localName}` : element.localName;
}

function flattenText(element: XmlElement): string {
  return [element.text, ...element.children.map(flattenText)].filter(Boolean).join(" ");
}
