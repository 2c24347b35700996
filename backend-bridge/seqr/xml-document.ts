import { XMLBuilder, XMLParser, XMLValidator } from "fast-xml-parser";

/**
 * Hardened XML for the SOAP edge, both directions (client responses, sandbox requests), on fast-xml-parser.
 *
 * Reading: a size limit, no DOCTYPE at all (so no entity can be declared, expanded or fetched), only the five
 * predefined entities and character references are decoded, the document must be well-formed (the parser alone is
 * lenient and would accept a truncated body), and namespaces are resolved so that callers match elements by local
 * name + namespace URI, whatever prefixes the other side chose (soap:, soapenv:, S:, ns2: ...).
 *
 * Writing: element objects in insertion order (the WSDL order), text escaped by the builder.
 */

export interface XmlElement {
  /** As written, e.g. "ns2:getPaymentStatusResponse". */
  name: string;
  localName: string;
  /** Resolved namespace URI; undefined for an unqualified element. */
  namespace: string | undefined;
  /** Non-namespace attributes by their written name. */
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (and CDATA), decoded. */
  text: string;
}

export class XmlSyntaxError extends Error {}

export interface XmlReadLimits {
  /** Largest document accepted, in UTF-16 code units of the decoded text (callers check bytes before decoding). */
  maxChars: number;
  /** Deepest element nesting accepted; SOAP messages here are about 8 deep. */
  maxDepth?: number;
}

const textKey = "#text";
const cdataKey = "#cdata";
const attributesKey = ":@";
const attributePrefix = "@_";

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: attributePrefix,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: cdataKey,
  maxNestedTags: 64,
});

type OrderedNode = Record<string, unknown>;

export function parseXmlDocument(xml: string, limits: XmlReadLimits): XmlElement {
  if (xml.length > limits.maxChars) throw new XmlSyntaxError(`document larger than ${limits.maxChars} characters`);
  // A DOCTYPE is never legitimate in SOAP (SOAP 1.1 §3 forbids it); refusing it removes every entity attack at once.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new XmlSyntaxError("DOCTYPE and entity declarations are not accepted");
  const validation = XMLValidator.validate(xml);
  if (validation !== true) {
    const { msg, line, col } = validation.err;
    throw new XmlSyntaxError(`not well-formed XML at ${line}:${col}: ${msg}`);
  }
  let ordered: unknown;
  try {
    ordered = parser.parse(xml);
  } catch (error) {
    throw new XmlSyntaxError(`not well-formed XML: ${(error as Error).message}`);
  }
  const roots = (ordered as OrderedNode[]).filter((node) => elementName(node) !== undefined);
  if (roots.length !== 1) throw new XmlSyntaxError(`expected one root element, found ${roots.length}`);
  return toElement(roots[0]!, new Map([["xml", "http://www.w3.org/XML/1998/namespace"]]), 0, limits.maxDepth ?? 32);
}

function elementName(node: OrderedNode): string | undefined {
  for (const key of Object.keys(node)) {
    if (key !== attributesKey && key !== textKey && key !== cdataKey) return key;
  }
  return undefined;
}

function toElement(node: OrderedNode, inherited: Map<string, string>, depth: number, maxDepth: number): XmlElement {
  if (depth > maxDepth) throw new XmlSyntaxError(`elements nested deeper than ${maxDepth}`);
  const name = elementName(node)!;
  const rawAttributes = (node[attributesKey] ?? {}) as Record<string, string>;
  let scope = inherited;
  const attributes: Record<string, string> = {};
  for (const [key, raw] of Object.entries(rawAttributes)) {
    const attribute = key.slice(attributePrefix.length);
    const value = decodeEntities(String(raw));
    if (attribute === "xmlns" || attribute.startsWith("xmlns:")) {
      if (scope === inherited) scope = new Map(inherited);
      scope.set(attribute === "xmlns" ? "" : attribute.slice("xmlns:".length), value);
    } else {
      attributes[attribute] = value;
    }
  }
  const colon = name.indexOf(":");
  const prefix = colon === -1 ? "" : name.slice(0, colon);
  const localName = colon === -1 ? name : name.slice(colon + 1);
  const namespace = scope.get(prefix) || undefined;
  if (prefix !== "" && namespace === undefined) throw new XmlSyntaxError(`undeclared namespace prefix '${prefix}'`);

  const children: XmlElement[] = [];
  let text = "";
  for (const child of (node[name] ?? []) as OrderedNode[]) {
    if (textKey in child) {
      text += decodeEntities(String(child[textKey]));
    } else if (cdataKey in child) {
      for (const part of child[cdataKey] as OrderedNode[]) text += String(part[textKey] ?? "");
    } else if (elementName(child) !== undefined) {
      children.push(toElement(child, scope, depth + 1, maxDepth));
    }
  }
  return { name, localName, namespace, attributes, children, text };
}

const predefinedEntities: Readonly<Record<string, string>> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

/** Decodes the five predefined entities and character references; anything else named is an undeclared entity. */
export function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(/&([^;&\s]{0,12});?/g, (match, body: string) => {
    if (!match.endsWith(";")) throw new XmlSyntaxError(`bare '&' in text`);
    if (body.startsWith("#x") || body.startsWith("#X")) return codePoint(body.slice(2), 16, match);
    if (body.startsWith("#")) return codePoint(body.slice(1), 10, match);
    const entity = predefinedEntities[body];
    if (entity === undefined) throw new XmlSyntaxError(`undeclared entity ${match}`);
    return entity;
  });
}

function codePoint(digits: string, radix: 10 | 16, match: string): string {
  const pattern = radix === 16 ? /^[0-9a-fA-F]{1,6}$/ : /^[0-9]{1,7}$/;
  const value = pattern.test(digits) ? Number.parseInt(digits, radix) : Number.NaN;
  if (!(value === 0x9 || value === 0xa || value === 0xd || (value >= 0x20 && value <= 0x10ffff))) {
    throw new XmlSyntaxError(`invalid character reference ${match}`);
  }
  return String.fromCodePoint(value);
}

/** Local-name lookups: SEQR's children are unqualified, and the sandbox must accept any element order. */
export function childElement(parent: XmlElement, localName: string): XmlElement | undefined {
  return parent.children.find((child) => child.localName === localName);
}

export function childElements(parent: XmlElement, localName: string): XmlElement[] {
  return parent.children.filter((child) => child.localName === localName);
}

/** The trimmed text of a child, or undefined when the child is absent. An empty element gives "". */
export function childText(parent: XmlElement, localName: string): string | undefined {
  const child = childElement(parent, localName);
  return child === undefined ? undefined : child.text.trim();
}

// ---- writing ---------------------------------------------------------------------------------------------------

/** An element's content: text, child elements in insertion order (an array repeats the element), or absent. */
export type XmlValue = string | number | XmlObject | XmlObject[] | string[] | undefined;
export interface XmlObject {
  [name: string]: XmlValue;
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: attributePrefix,
  suppressEmptyNode: true,
  processEntities: true,
  format: false,
});

export const xmlDeclaration = '<?xml version="1.0" encoding="UTF-8"?>';

/** Serialises `{ "p:root": { "@_xmlns:p": uri, child: "text", ... } }`; undefined members are left out. */
export function buildXml(root: XmlObject): string {
  return builder.build(withoutUndefined(root)) as string;
}

function withoutUndefined(value: XmlObject): XmlObject {
  const result: XmlObject = {};
  for (const [key, member] of Object.entries(value)) {
    if (member === undefined) continue;
    if (Array.isArray(member)) {
      result[key] = (member as Array<string | XmlObject>).map((item) =>
        typeof item === "object" ? withoutUndefined(item) : item,
      ) as XmlObject[] | string[];
    } else if (typeof member === "object") {
      result[key] = withoutUndefined(member);
    } else {
      result[key] = member;
    }
  }
  return result;
}
