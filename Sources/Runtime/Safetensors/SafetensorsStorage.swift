import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The bytes of one whole safetensors file: a private memory mapping of the file, or the
/// decompressed contents of a `.zst` file on the heap. Zero-copy `FloatBuffer`s keep it alive.
final class SafetensorsStorage: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let count: Int
    private let isMapped: Bool

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Maps `path` with MAP_PRIVATE and PROT_READ|PROT_WRITE: pages are shared with the page cache
    /// until written, and a write (e.g. merging a LoRA adapter in place) copies the page instead
    /// of reaching the file.
    init(mapping path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw SafetensorsError.unreadable(file: path, reason: String(cString: strerror(errno)))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw SafetensorsError.unreadable(file: path, reason: String(cString: strerror(errno)))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw SafetensorsError.unreadable(file: path, reason: "not a regular file")
        }
        let size = Int(status.st_size)
        // mmap refuses length 0, and such a file is truncated anyway.
        guard size >= 8 else { throw SafetensorsError.truncated(file: path, size: size) }
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, descriptor, 0)
        guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw SafetensorsError.unreadable(file: path, reason: "mmap: " + String(cString: strerror(errno)))
        }
        base = address
        count = size
        isMapped = true
    }

    /// Gives the pages wholly inside `range` back to the kernel once their contents were copied elsewhere (a mapping
    /// only; they are read again from the file if touched later), so a copy does not count twice in resident memory.
    func releasePages(_ range: Range<Int>) {
        guard isMapped else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page, end = range.upperBound / page * page
        guard end > start else { return }
        _ = madvise(base + start, end - start, Int32(MADV_DONTNEED))
    }

    /// Takes ownership of `malloc` memory holding the whole file.
    init(mallocBytes: UnsafeMutableRawPointer, count: Int) {
        base = mallocBytes
        self.count = count
        isMapped = false
    }

    deinit {
        if isMapped {
            munmap(base, count)
        } else {
            free(base)
        }
    }
}
