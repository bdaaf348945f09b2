pub fn verify() {}
pub fn repair() {}
pub struct RepairReport;
pub struct VerifyReport;
