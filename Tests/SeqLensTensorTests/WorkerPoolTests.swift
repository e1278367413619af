import CPackedKernels
import Foundation
import Testing

@testable import SeqLensTensor

/// The resident worker pool: every part of every job runs exactly once, whether the workers are
/// awake, asleep or busy with another caller's job.
@Suite(.serialized) struct WorkerPoolTests {
    /// Runs `jobs` jobs of `parts` parts, each part adding its (job, part) mark once.
    static func runJobs(_ jobs: Int, parts: Int, pauseEvery: Int = 0) -> [Int] {
        var marks = [Int](repeating: 0, count: jobs * parts)
        marks.withUnsafeMutableBufferPointer { buffer in
            for job in 0..<jobs {
                if pauseEvery > 0 && job % pauseEvery == 0 { usleep(300) }  // past the workers' spin: they sleep
                var context = (buffer.baseAddress! + job * parts, 0)
                withUnsafeMutablePointer(to: &context) { pointer in
                    seqlens_parallel_run(Int32(parts), { context, part in
                        let marks = context!.assumingMemoryBound(to: (UnsafeMutablePointer<Int>, Int).self).pointee.0
                        marks[Int(part)] += 1
                    }, pointer)
                }
            }
        }
        return marks
    }

    @Test(arguments: [1, 2, 3, 16, 100])
    func everyPartRunsOnce(parts: Int) {
        #expect(Self.runJobs(2000, parts: parts).allSatisfy { $0 == 1 })
        #expect(Self.runJobs(40, parts: parts, pauseEvery: 1).allSatisfy { $0 == 1 })
    }

    @Test func concurrentCallersEachRunTheirOwnParts() async {
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 { group.addTask { Self.runJobs(3000, parts: 4).allSatisfy { $0 == 1 } } }
            var all: [Bool] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results == [true, true, true, true])
    }

    @Test func nestedLoopsRunOnTheirCaller() {
        var totals = [Int](repeating: 0, count: 8)
        totals.withUnsafeMutableBufferPointer { buffer in
            let base = UnsafeBox(buffer.baseAddress!)
            Parallel.forEachRange(8) { outer in
                for i in outer {
                    Parallel.forEachRange(10) { inner in base.pointer[i] += inner.count }
                }
            }
        }
        #expect(totals == [Int](repeating: 10, count: 8))
    }
}
