internal import CCurl
import Foundation

/// Where and how to deliver mail: an `smtp://` (STARTTLS when the server offers it)
/// or `smtps://` (TLS from the start) URL, with `user:password@` in it when the server
/// wants authentication.
public struct SMTPConfiguration: Sendable {
    /// `smtp://[user:password@]host[:port]`; a path names the EHLO domain.
    public var url: String
    /// Seconds allowed to open the connection (TCP, greeting, STARTTLS).
    public var connectTimeout: Double = 10
    /// Seconds allowed for the whole transaction, connection included.
    public var timeout: Double = 60
    /// Refuses servers that do not offer STARTTLS (`CURLUSESSL_ALL`); by default TLS
    /// is used when offered (`CURLUSESSL_TRY`).
    public var requireTLS = false

    public init(url: String) { self.url = url }

    /// The URL with any password replaced by `***`, for logs.
    public var redactedURL: String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// Why a send failed.
public struct SMTPError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// No SMTP conversation happened (connection refused, name not resolved,
        /// no route): the server is down, not the mail at fault.
        case unreachable
        /// The server or the transfer failed; the mail may or may not have been taken.
        case failed
    }

    public var kind: Kind
    /// The last SMTP reply code, 0 when none was read.
    public var replyCode: Int
    public var description: String
}

/// One libcurl easy handle used for SMTP, owned here and reused across sends (libcurl
/// keeps the connection open between them when the server allows). Not thread-safe:
/// one client per thread.
public final class SMTPClient {
    public let configuration: SMTPConfiguration
    private let handle: UnsafeMutableRawPointer
    /// CURLOPT_ERRORBUFFER: libcurl writes the detailed message of a failure here.
    private let errorBuffer: UnsafeMutablePointer<CChar>

    /// libcurl's process-wide initialisation, done once before the first handle
    /// (a Swift global is initialised lazily and exactly once).
    private static let globalInit: CURLcode = carthub_curl_global_init()

    public init(configuration: SMTPConfiguration) throws(SMTPError) {
        guard Self.globalInit == CURLE_OK, let handle = curl_easy_init() else {
            throw SMTPError(kind: .failed, replyCode: 0, description: "libcurl could not be initialised")
        }
        self.configuration = configuration
        self.handle = handle
        let size = carthub_curl_error_size()
        errorBuffer = .allocate(capacity: size)
        errorBuffer.initialize(repeating: 0, count: size)
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Sends one message (RFC 5322 text with CRLF line ends): `MAIL FROM:<from>`, one
    /// `RCPT TO` per recipient, then the message as DATA (libcurl dot-stuffs it).
    /// Returns once the server accepted the data (250 after the final dot).
    public func send(from: String, to recipients: [String], message: [UInt8]) throws(SMTPError) {
        guard !recipients.isEmpty else { throw SMTPError(kind: .failed, replyCode: 0, description: "no recipients") }
        var list: UnsafeMutablePointer<curl_slist>?
        for recipient in recipients {
            guard let grown = curl_slist_append(list, "<\(recipient)>") else {
                curl_slist_free_all(list)
                throw SMTPError(kind: .failed, replyCode: 0, description: "out of memory")
            }
            list = grown
        }
        defer { curl_slist_free_all(list) }
        let upload = UploadBuffer(message)
        let uploadPointer = Unmanaged.passRetained(upload)
        defer { uploadPointer.release() }
        errorBuffer[0] = 0

        var setup = CURLE_OK
        func set(_ code: CURLcode) { if setup == CURLE_OK { setup = code } }
        set(carthub_curl_setopt_string(handle, CURLOPT_URL, configuration.url))
        set(carthub_curl_setopt_string(handle, CURLOPT_MAIL_FROM, "<\(from)>"))
        set(carthub_curl_setopt_slist(handle, CURLOPT_MAIL_RCPT, list))
        set(carthub_curl_setopt_long(handle, CURLOPT_UPLOAD, 1))
        set(carthub_curl_setopt_read_function(handle, uploadRead))
        set(carthub_curl_setopt_pointer(handle, CURLOPT_READDATA, uploadPointer.toOpaque()))
        set(carthub_curl_setopt_long(handle, CURLOPT_INFILESIZE_LARGE, message.count))
        let tls = configuration.requireTLS ? CURLUSESSL_ALL : CURLUSESSL_TRY
        set(carthub_curl_setopt_long(handle, CURLOPT_USE_SSL, Int(tls.rawValue)))
        set(carthub_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout * 1000)))
        set(carthub_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(configuration.timeout * 1000)))
        // Worker threads: no SIGALRM for name-resolution timeouts.
        set(carthub_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(carthub_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        guard setup == CURLE_OK else {
            throw SMTPError(kind: .failed, replyCode: 0, description: "libcurl refused an option: \(Self.text(setup))")
        }

        let result = curl_easy_perform(handle)
        // Nothing of this send may outlive it: the list and buffer are freed on return.
        _ = carthub_curl_setopt_slist(handle, CURLOPT_MAIL_RCPT, nil)
        _ = carthub_curl_setopt_pointer(handle, CURLOPT_READDATA, nil)
        guard result != CURLE_OK else { return }
        var code = 0
        _ = carthub_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        let detail = String(cString: errorBuffer)
        let message = "\(Self.text(result))" + (detail.isEmpty ? "" : ": \(detail)") + (code > 0 ? " (last reply \(code))" : "")
        let unreachable = code == 0 && [CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY].contains(result)
        throw SMTPError(kind: unreachable ? .unreachable : .failed, replyCode: code, description: message)
    }

    private static func text(_ code: CURLcode) -> String {
        String(cString: curl_easy_strerror(code))
    }
}

/// The message being uploaded and how much of it libcurl has taken.
private final class UploadBuffer {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// CURLOPT_READFUNCTION: copies the next piece of the message into libcurl's buffer;
/// 0 at the end.
private func uploadRead(_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?) -> Int {
    guard let buffer, let context else { return carthub_curl_readfunc_abort() }
    let upload = Unmanaged<UploadBuffer>.fromOpaque(context).takeUnretainedValue()
    let n = min(size * count, upload.bytes.count - upload.offset)
    guard n > 0 else { return 0 }
    upload.bytes.withUnsafeBufferPointer { source in
        UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + upload.offset, byteCount: n)
    }
    upload.offset += n
    return n
}
