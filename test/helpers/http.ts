import { request, type IncomingHttpHeaders } from 'node:http';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body's bytes, as received. */
  body: Buffer;
  text: string;
  /** The body parsed as JSON; null when it is not JSON (the demo page, a media file, nothing). */
  json: any;
}

export interface HttpRequestOptions {
  headers?: Record<string, string>;
  /** A string or Buffer is sent byte for byte; any other value as its JSON text. */
  body?: unknown;
}

export interface HttpClient {
  /** Any method; the path is sent byte for byte (fetch would normalise `..` and `%2e`). */
  request(method: string, path: string, opts?: HttpRequestOptions): Promise<HttpResponse>;
  get(path: string, headers?: Record<string, string>): Promise<HttpResponse>;
  /** Sends `content-type: application/json` unless headers say otherwise. */
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResponse>;
  delete(path: string, headers?: Record<string, string>): Promise<HttpResponse>;
}

/**
 * The one HTTP client of the tests. `baseUrl` is read at every request, so a
 * client can be made before the server it talks to is started (or restarted).
 */
export function httpClient(baseUrl: string | (() => string)): HttpClient {
  const base = typeof baseUrl === 'string' ? () => baseUrl : baseUrl;
  const client: HttpClient = {
    request: (method, path, opts) => httpRequest(base(), method, path, opts),
    get: (path, headers) => client.request('GET', path, { headers }),
    post: (path, body, headers) => client.request('POST', path, { body, headers: { 'content-type': 'application/json', ...headers } }),
    delete: (path, headers) => client.request('DELETE', path, { headers }),
  };
  return client;
}

/** One request to `baseUrl` (scheme, host and port are used; the path is `path`, unchanged). */
export function httpRequest(baseUrl: string, method: string, path: string, opts: HttpRequestOptions = {}): Promise<HttpResponse> {
  const { hostname, port } = new URL(baseUrl);
  const host = hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without its brackets
  const body = opts.body === undefined || typeof opts.body === 'string' || Buffer.isBuffer(opts.body) ? opts.body : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const text = bytes.toString('utf8');
        let json: any = null;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode!, headers: res.headers, body: bytes, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
