//! What the host does that Gatehouse cannot, but that decides how fast it answers.

/// Where Linux's guest halt polling is set (`haltpoll` cpuidle driver, KVM guests).
const HALT_POLL_NS: &str = "/sys/module/haltpoll/parameters/guest_halt_poll_ns";
const CPUIDLE_DRIVER: &str = "/sys/devices/system/cpu/cpuidle/current_driver";

/// Advice to give at start when the host makes every gateway call slower than it need be, read
/// through `read` (the contents of a sysfs file, if it exists).
///
/// On a KVM guest with the `haltpoll` driver and polling switched off, an idle CPU halts at
/// once and each wake-up goes through the hypervisor. Every hop of a proxied call waits for
/// one: on the development VM that tripled the gateway's median latency (docs/PERFORMANCE.md).
pub fn halt_polling_advice(read: impl Fn(&str) -> Option<String>) -> Option<String> {
    let driver = read(CPUIDLE_DRIVER)?;
    let polling = read(HALT_POLL_NS)?;
    (driver.trim() == "haltpoll" && polling.trim() == "0").then(|| {
        format!(
            "guest halt polling is off on this virtual machine ({HALT_POLL_NS} is 0), so each \
             wake-up of an idle CPU goes through the hypervisor and gateway calls take about \
             three times as long; the kernel's default is 200000 (see docs/PERFORMANCE.md)"
        )
    })
}

/// [`halt_polling_advice`] for this machine.
pub fn advice() -> Option<String> {
    halt_polling_advice(|path| std::fs::read_to_string(path).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(driver: Option<&str>, polling: Option<&str>) -> Option<String> {
        halt_polling_advice(|path| match path {
            CPUIDLE_DRIVER => driver.map(str::to_owned),
            HALT_POLL_NS => polling.map(str::to_owned),
            _ => None,
        })
    }

    #[test]
    fn only_a_guest_with_halt_polling_switched_off_is_advised() {
        let advice = host(Some("haltpoll\n"), Some("0\n")).expect("advice");
        assert!(advice.contains("guest halt polling is off"), "{advice}");
        assert_eq!(host(Some("haltpoll\n"), Some("200000\n")), None);
        assert_eq!(host(Some("intel_idle\n"), Some("0\n")), None);
        assert_eq!(host(None, None), None, "not a KVM guest, or not Linux");
    }
}
